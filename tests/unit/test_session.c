/* tests/unit/test_session.c - placeholder: skipped until written */
int main(void) { return 77; }
