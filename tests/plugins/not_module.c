/* A shared object with no cardea_module_entry: the loader must skip it. */
int cardea_test_not_a_module(void) { return 42; }
