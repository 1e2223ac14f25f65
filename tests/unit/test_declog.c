/* tests/unit/test_declog.c - placeholder: skipped until written */
int main(void) { return 77; }
