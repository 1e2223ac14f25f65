/* tests/unit/test_rules.c - placeholder: skipped until written */
int main(void) { return 77; }
