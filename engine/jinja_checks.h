#pragma once
// Compile-time checks on a parsed template, as jinja2 makes them: an unknown filter or test is an
// error unless it sits in conditional code ({% if %} or `a if b else c`), and break/continue
// must be inside a loop. Also records which of `caller`, `varargs` and `kwargs` each macro uses,
// which decides what arguments it accepts.
#include "engine/jinja_ast.h"

namespace ponder::jinja {

// Throws Error ("template syntax error at line L:C: ...") on the first problem.
void check_program(Program& program);

}  // namespace ponder::jinja
