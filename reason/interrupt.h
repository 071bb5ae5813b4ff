#pragma once
// Ctrl-C. SIGINT sets a flag that generation polls between tokens, so an interrupted answer stops
// cleanly and the caller decides what the interrupt means (stop this answer, exit with 130, ...).
// The flag is process-wide because signals are; nothing else is kept here.
#include <atomic>

namespace ponder {

// Installs the SIGINT handler (idempotent). The handler only sets the flag and writes a byte to
// interrupt_fd(), so that a poll()ing loop wakes up.
void install_interrupt_handler();

// The flag set by SIGINT; clear it with clear_interrupt() before each new piece of work.
const std::atomic<bool>& interrupt_flag();
bool interrupted();
void clear_interrupt();
// Sets the flag as SIGINT would (tests, other threads).
void raise_interrupt();

// Readable end of the self-pipe written by the handler (-1 before installation).
int interrupt_fd();
// Empties the self-pipe.
void drain_interrupt_fd();

}  // namespace ponder
