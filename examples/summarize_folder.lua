-- Map-reduce summary of a folder: every text file is summarised on its own (map), then the
-- summaries are combined into one (reduce). Shows ponder.glob, ponder.read_file, ponder.ask with
-- options, and ponder.count_tokens to keep long files within the context.
--
--   ponder -m model.gguf run examples/summarize_folder.lua DIR [MAX_TOKENS]
--
-- DIR: the folder (its *.txt and *.md files, recursively); MAX_TOKENS: the most tokens per
-- summary (default 200).

local dir = arg[1] or "."
local max_tokens = tonumber(arg[2]) or 200

local files = {}
for _, pattern in ipairs({ dir .. "/**/*.txt", dir .. "/**/*.md" }) do
  for _, path in ipairs(ponder.glob(pattern)) do files[#files + 1] = path end
end
table.sort(files)
if #files == 0 then
  io.stderr:write("no .txt or .md files under " .. dir .. "\n")
  os.exit(1)
end

-- Keeps a text within a token budget by cutting it at a line (the model's context is finite).
local function within_budget(text, budget)
  while ponder.count_tokens(text) > budget and #text > 200 do
    text = text:sub(1, #text * 3 // 4):gsub("\n[^\n]*$", "") .. "\n[...]"
  end
  return text
end

-- What a prompt's text may take: the context less the answer and room for the instruction and
-- the chat template around it.
local budget = math.min(1500, ponder.model().context - max_tokens - 100)
if budget < 100 then
  io.stderr:write("the model's context is too small for summaries of " .. max_tokens .. " tokens\n")
  os.exit(1)
end

-- Map: one summary per file.
local summaries = {}
for _, path in ipairs(files) do
  local text = within_budget(ponder.read_file(path), budget)
  local summary = ponder.ask("Summarise this file in two sentences.\n\nFile " .. path .. ":\n" .. text,
                             { max_tokens = max_tokens, temp = 0.3 })
  summaries[#summaries + 1] = "- " .. path .. ": " .. summary:gsub("%s+", " ")
  print("== " .. path .. " ==")
  print(summary)
end

-- Reduce: one summary of the summaries.
local combined = ponder.ask("These are summaries of the files in a folder:\n" ..
                            within_budget(table.concat(summaries, "\n"), budget) ..
                            "\n\nWrite one short paragraph about what the folder holds as a whole.",
                            { max_tokens = max_tokens, temp = 0.3 })
print("== summary of " .. #files .. " files ==")
print(combined)
