// `plexus worker`: the connector worker process (docs/design/004-connector-isolation.md).
#pragma once

#include <string>
#include <vector>

namespace plexus::worker {

// Runs the worker: `--lib PATH [--connector ID] [--memory-limit-mb N]`, socket on fd 3.
// Returns the process exit status. Not for operators: the host starts it.
int worker_main(const std::vector<std::string>& args);

}  // namespace plexus::worker
