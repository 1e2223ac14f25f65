/* tests/unit/test_spf.c - placeholder: skipped until written */
int main(void) { return 77; }
