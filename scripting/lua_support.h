#pragma once
// Crossing safely between Lua's C API and C++. Lua raises errors with longjmp, which skips the
// destructors of C++ objects in the frames it unwinds, and C++ exceptions must not unwind Lua's
// C frames. So:
//   - guarded() runs a C function's body as plain C++ and raises a Lua error only after the
//     body (and every object in it) is gone;
//   - protect() runs Lua API calls that may raise (allocation, calling Lua functions) inside
//     lua_pcall, and turns their error into a thrown LuaError;
//   - the argument readers below use only API calls that cannot raise.
#include <lua.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ponder::lua {

// A Lua error seen from C++. Its message is complete ("script.lua:7: boom"), so no position is
// added when it is raised again.
class LuaError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The script is being stopped (Ctrl-C, --timeout, os.exit): nothing may catch and go on.
class ScriptStopped : public LuaError {
  public:
    using LuaError::LuaError;
};

namespace detail {
struct ProtectedBody {
    void (*call)(void* body, lua_State* L);
    void* body;
};
int run_protected(lua_State* L, int nargs, ProtectedBody& body);
void push_error_message(lua_State* L, const char* message, const char* function);
}  // namespace detail

// Calls body(L) in protected mode, with the top `nargs` values of the stack moved onto its own
// stack (indices 1..nargs). Whatever body leaves on that stack is pushed back as results; returns
// their number. A Lua error inside is thrown as LuaError. body must own no C++ objects with
// destructors (refer to ones outside it instead), since an error unwinds it with longjmp.
template <typename Body>
int protect(lua_State* L, int nargs, Body&& body) {
    detail::ProtectedBody erased{
        [](void* b, lua_State* state) { (*static_cast<std::remove_reference_t<Body>*>(b))(state); },
        static_cast<void*>(&body)};
    return detail::run_protected(L, nargs, erased);
}

// The body of a C function: returns its number of results; a C++ exception becomes a Lua error
// raised once the body has returned. Messages of exceptions other than LuaError get the calling
// script's file:line and `function` ("ponder.ask") in front.
template <typename Body>
int guarded(lua_State* L, const char* function, Body&& body) {
    int results = 0;
    bool failed = false;
    try {
        results = body(L);
    } catch (const LuaError& e) {
        detail::push_error_message(L, e.what(), nullptr);
        failed = true;
    } catch (const std::exception& e) {
        detail::push_error_message(L, e.what(), function);
        failed = true;
    } catch (...) {
        detail::push_error_message(L, "internal error", function);
        failed = true;
    }
    if (failed) return lua_error(L);
    return results;
}

// "bad argument #2 (table expected, got number)", as luaL_argerror words it (guarded() adds
// the function's name).
[[noreturn]] void argument_error(lua_State* L, int index, const char* function,
                                 const char* expected);

// Readers that never raise a Lua error (they throw std::runtime_error instead).
std::string check_string(lua_State* L, int index, const char* function);  // strings and numbers
std::optional<std::string> optional_string(lua_State* L, int index, const char* function);
// The value at `index` as a setting would spell it: strings as they are, numbers, on/off.
// nullopt for other types.
std::optional<std::string> setting_text(lua_State* L, int index);
// A string's bytes without copying; empty view for non-strings.
std::string_view string_view_at(lua_State* L, int index);

// Where the Lua code that called the running C function is: "script.lua:7: ", or "" when
// unknown. Allocates nothing on the Lua heap.
std::string caller_position(lua_State* L);

// Makes room for `n` more stack slots; throws LuaError when the stack cannot grow.
void need_stack(lua_State* L, int n);

// Pushes a string (protected).
void push_string(lua_State* L, std::string_view text);

}  // namespace ponder::lua
