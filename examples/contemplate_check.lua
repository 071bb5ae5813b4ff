-- Contemplation with a custom check: several reasoning chains answer the question, and a Lua
-- function weighs each chain before the vote (here: no answer or wrong arithmetic counts for
-- nothing, long-winded chains count less). Shows ponder.contemplate, its check hook, and the
-- chains and votes it reports.
--
--   ponder -m model.gguf run examples/contemplate_check.lua "What is 6*7?" [THINK_TOKENS] [CHAINS]
--
-- THINK_TOKENS: the most tokens per chain (default 256, at least 16); CHAINS: parallel chains
-- (default 4).

local question = arg[1] or "A shop sells pens at 3 for $2. How much do 12 pens cost?"
local think_tokens = tonumber(arg[2]) or 256
local chains = tonumber(arg[3]) or 4

local function check(chain)
  if chain.answer == "" then return 0 end          -- no final answer: no say in the vote
  if chain.false_claims > 0 then return 0 end      -- a wrong calculation: rejected
  if chain.tokens > think_tokens * 0.9 then return 0.5 end  -- ran out of room: half weight
  return 1
end

local result = ponder.contemplate(question, {
  chains = chains, ["think-tokens"] = think_tokens, rounds = 1, check = check,
})

for _, chain in ipairs(result.chains) do
  print(("chain %d (round %d): answer %q, %d false claims, weight %.2f"):format(
    chain.index, chain.round, chain.answer, chain.false_claims, chain.weight))
end
for _, vote in ipairs(result.votes) do
  print(("vote: %q with %.0f%% from chains %s"):format(vote.answer, vote.share * 100, table.concat(vote.chains, ",")))
end
print(("answer: %s"):format(result.answer ~= "" and result.answer or "(none)"))
print(("confidence: %.2f"):format(result.confidence))
