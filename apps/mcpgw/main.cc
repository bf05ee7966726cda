#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  return mcpgw::cli::RunCli(argc, argv, std::cin, std::cout, std::cerr);
}
