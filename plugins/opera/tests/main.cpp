// Catch2's main for opera_tests (the shared plexus_test_main is defined later in the build
// than this directory).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
