-- Structured data from free text by a prompt chain: first the model is asked for all fields
-- as JSON at once (json = true); when its answer is not JSON, each field is asked for on its
-- own, and the results are cleaned up in Lua. Prints one JSON object. Shows json = true with
-- pcall as the fallback, stop strings, and ponder.json.
--
--   ponder -m model.gguf run examples/extract_fields.lua "Ada Lovelace was born in London in 1815." [MAX_TOKENS]
--
-- MAX_TOKENS: the most tokens per step (default 120).

local text = arg[1] or "Grace Hopper, born 1906 in New York City, was a computer scientist."
local max_tokens = tonumber(arg[2]) or 120
local fields = {
  { key = "name", question = "What is the full name of the person?" },
  { key = "birthplace", question = "Where was the person born? Give the place only." },
  { key = "birth_year", question = "In which year was the person born? Give the year only." },
}

local function clean(value)
  value = tostring(value or ""):gsub("^%s+", ""):gsub("%s+$", ""):gsub("^[\"']", ""):gsub("[\"'%.]$", "")
  return value
end

-- Step 1: everything at once, as JSON.
local keys = {}
for _, f in ipairs(fields) do keys[#keys + 1] = f.key end
local ok, record = pcall(ponder.ask,
  "Extract these fields from the text as a JSON object with the keys " .. table.concat(keys, ", ") ..
  ". Use null for unknown fields.\n\nText: " .. text,
  { json = true, max_tokens = max_tokens, temp = 0 })
if not ok or type(record) ~= "table" then
  io.stderr:write("one-step extraction gave no JSON object; asking field by field\n")
  record = {}
end

-- Step 2: any field still missing, one question each (one line answers).
for _, f in ipairs(fields) do
  local value = record[f.key]
  if value == nil or value == ponder.json.null or clean(value) == "" then
    value = ponder.ask(f.question .. "\n\nText: " .. text,
                       { max_tokens = max_tokens, temp = 0, stop = { "\n" },
                         system = "Answer with the requested value only." })
  end
  record[f.key] = clean(value)
end

-- Step 3: typed values where the text allows.
record.birth_year = tonumber(tostring(record.birth_year):match("%d%d%d%d")) or record.birth_year
print(ponder.json.encode(record, { indent = 2 }))
