// wirehubctl: command line for wirehub-control. See cli.h for the interface.
#include <iostream>
#include <string>
#include <vector>

#include "tools/wirehubctl/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return wirehub::ctl::RunCli(args, wirehub::ctl::DefaultCliContext(std::cout, std::cerr));
}
