-- A tool-using agent: the model may call the exact built-in calculator and a unit converter
-- written in Lua while it answers; every call and its result are printed. Shows ponder.tool
-- (built-in and custom), and the tool_calls in ask's second result.
--
--   ponder -m model.gguf run examples/calculator_agent.lua "What is 17*23 km in miles?" [MAX_TOKENS]
--
-- MAX_TOKENS: the most tokens per model turn (default 300). Works best with a model trained for
-- tool calls (Qwen2.5, Llama 3.1+, Hermes, Mistral); others simply answer without calling.

local question = arg[1] or "What is 1234 * 5678?"
local max_tokens = tonumber(arg[2]) or 300

ponder.tool("calculator")
ponder.tool {
  name = "convert_units",
  description = "Convert a length between km and miles.",
  params = {
    value = { type = "number", description = "the amount to convert" },
    from = { type = "string", enum = { "km", "miles" }, description = "the unit of value" },
  },
  fn = function(args)
    local factor = 0.621371
    if args.from == "km" then return { miles = args.value * factor } end
    if args.from == "miles" then return { km = args.value / factor } end
    error("unknown unit " .. tostring(args.from))
  end,
}

local answer, info = ponder.ask(question, {
  system = "You are a careful assistant. Use the tools for every calculation.",
  max_tokens = max_tokens, temp = 0, steps = 4,
})
for i, call in ipairs(info.tool_calls) do
  print(("tool call %d: %s(%s) -> %s"):format(i, call.name, ponder.json.encode(call.arguments), call.result))
end
if info.step_limit_reached then print("(the step limit ended the tool calls)") end
print("== answer ==")
print(answer)
