/* tests/unit/test_dns.c - placeholder: skipped until written */
int main(void) { return 77; }
