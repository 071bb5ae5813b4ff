-- Self-refine: the model writes a draft, criticises it, and revises it, a few rounds over.
-- Shows a prompt chain where each step feeds the next, and ponder.stream to show the final
-- version as it is written.
--
--   ponder -m model.gguf run examples/self_refine.lua "Write a haiku about rain" [MAX_TOKENS] [ROUNDS]
--
-- MAX_TOKENS: the most tokens per step (default 300); ROUNDS: critique-and-revise rounds
-- (default 2).

local task = arg[1] or "Write a short poem about the sea."
local max_tokens = tonumber(arg[2]) or 300
local rounds = tonumber(arg[3]) or 2
local options = { max_tokens = max_tokens, temp = 0.7 }

local draft = ponder.ask(task, options)
print("== draft ==")
print(draft)

for round = 1, rounds do
  local critique = ponder.ask("Task: " .. task .. "\n\nAnswer:\n" .. draft ..
                              "\n\nList the two biggest weaknesses of this answer, briefly.",
                              { max_tokens = max_tokens, temp = 0.2 })
  print("== critique " .. round .. " ==")
  print(critique)
  local revise = "Task: " .. task .. "\n\nPrevious answer:\n" .. draft .. "\n\nCritique:\n" .. critique ..
                 "\n\nWrite an improved answer. Reply with the answer only."
  if round == rounds then
    print("== final ==")
    draft = ponder.stream(revise, function(piece) io.write(piece) io.stdout:flush() end, options)
    print()
  else
    draft = ponder.ask(revise, options)
    print("== revision " .. round .. " ==")
    print(draft)
  end
end
if rounds < 1 then print("== final ==") print(draft) end
