-- Batch questions and answers: reads questions from a CSV file (a header row with a "question"
-- column, other columns are kept), asks the model each one, and writes the results as JSON.
-- Shows batch use of ponder.ask, ponder.json.encode, and writing files (inside the working
-- directory; elsewhere needs --allow-write).
--
--   ponder -m model.gguf run examples/csv_to_json.lua questions.csv answers.json [MAX_TOKENS]
--
-- MAX_TOKENS: the most tokens per answer (default 100).

local input, output = arg[1], arg[2]
local max_tokens = tonumber(arg[3]) or 100
if not input or not output then
  io.stderr:write("usage: ponder run examples/csv_to_json.lua IN.csv OUT.json [MAX_TOKENS]\n")
  os.exit(2)
end

-- One CSV line into fields: commas separate, double quotes enclose, "" is a quote.
local function parse_csv_line(line)
  local fields, field, i, quoted = {}, {}, 1, false
  while i <= #line do
    local c = line:sub(i, i)
    if quoted then
      if c == '"' and line:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1
      elseif c == '"' then quoted = false
      else field[#field + 1] = c end
    elseif c == '"' then quoted = true
    elseif c == "," then fields[#fields + 1] = table.concat(field); field = {}
    else field[#field + 1] = c end
    i = i + 1
  end
  fields[#fields + 1] = table.concat(field)
  return fields
end

local header, rows = nil, {}
for line in ponder.read_file(input):gmatch("[^\r\n]+") do
  local fields = parse_csv_line(line)
  if not header then header = fields
  else
    local row = {}
    for k, name in ipairs(header) do row[name] = fields[k] or "" end
    rows[#rows + 1] = row
  end
end
if not header or not rows[1] or rows[1].question == nil then
  io.stderr:write(input .. ": needs a header row with a 'question' column\n")
  os.exit(1)
end

local results = {}
for n, row in ipairs(rows) do
  local answer, info = ponder.ask(row.question, { max_tokens = max_tokens, temp = 0,
                                                  system = "Answer in one short sentence." })
  row.answer = answer
  row.stop_reason = info.stop_reason
  if row.expected and row.expected ~= "" then
    row.matches_expected = answer:lower():find(row.expected:lower(), 1, true) ~= nil
  end
  results[#results + 1] = row
  print(("%d/%d %s"):format(n, #rows, row.question))
end

local file = assert(io.open(output, "w"))
file:write(ponder.json.encode(results, { indent = 2 }), "\n")
file:close()
print("wrote " .. #results .. " answers to " .. output)
