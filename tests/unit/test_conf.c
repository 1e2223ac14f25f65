/* tests/unit/test_config.c - placeholder: skipped until written */
int main(void) { return 77; }
