/* tests/unit/test_authres.c - placeholder: skipped until written */
int main(void) { return 77; }
