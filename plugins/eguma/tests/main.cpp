// Catch2's main for eguma_tests (the shared plexus_test_main is defined later in the build).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
