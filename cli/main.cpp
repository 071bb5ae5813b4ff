// ponder: the executable. Everything lives in ponder_cli; main only hands over argv.
#include "cli/app.h"

int main(int argc, char** argv) {
    return ponder::cli::run(argc, argv);
}
