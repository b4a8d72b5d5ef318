-- man.lua — pandoc filter for the man pages: each table becomes a tbl(1)
-- table that fits an 80-column terminal. The first column (a key, a type,
-- a service) and a "default" column stay columns; the last column is a
-- text block that wraps; any other column (type, range, reload, ...) is
-- folded into the last one as "header: value;". Render with groff -t (man
-- does it: the pages start with the '\" t preprocessor line).
local function cell_text(cell)
  return pandoc.utils.stringify(cell.contents or cell)
end

-- roff-safe text: backslashes escaped, a leading dot or quote guarded.
local function roff(s)
  s = s:gsub("\\", "\\e")
  s = s:gsub("\n", " ")
  -- non-ASCII as groff escapes: raw text does not pass through preconv
  s = s:gsub(utf8.charpattern, function(c)
    local cp = utf8.codepoint(c)
    if cp > 127 then return string.format("\\[u%04X]", cp) end
  end)
  if s:match("^[.']") then s = "\\&" .. s end
  return s
end

-- a cell of the first columns: no tab character, no text block
local function short(s)
  s = roff(s):gsub("@", "\\(at")
  if s == "" then s = "\\&" end
  return s
end

-- A link to a document of the source tree (bridge.md, protocol.md) names
-- the installed man page that covers it instead: a man page points only at
-- what is installed.
local pages = {
  ["configuration.md"] = "svcd.conf(5)",
  ["svcctl.md"] = "svcctl(1)",
  ["protocol.md"] = "svcctl(1)",
}
function Link(link)
  local doc = link.target:match("([%w_-]+%.md)")
  if not doc then return nil end
  return pandoc.Str(pages[doc] or "svcd(8)")
end

-- A table whose first column is long (error messages) does not fit as
-- columns: it becomes tagged paragraphs, the first cell the tag.
local function tagged(tbl, heads)
  local items = {}
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local defs = {}
      for i = 2, #row.cells do
        local text = cell_text(row.cells[i])
        if text ~= "" then
          local label = heads[i] and heads[i] ~= "" and (heads[i] .. ": ") or ""
          table.insert(defs, pandoc.Plain({pandoc.Str(label .. text)}))
        end
      end
      table.insert(items, {{pandoc.Code(cell_text(row.cells[1]))}, {defs}})
    end
  end
  return pandoc.DefinitionList(items)
end

local MAX_FIRST = 28 -- widest first column kept as a column
local MAX_DEFAULT = 16

function Table(tbl)
  local heads = {}
  if tbl.head and tbl.head.rows and #tbl.head.rows > 0 then
    for i, c in ipairs(tbl.head.rows[1].cells) do
      heads[i] = cell_text(c)
    end
  end
  local n = #heads
  if n == 0 then
    local b = tbl.bodies[1]
    n = b and b.body[1] and #b.body[1].cells or 0
  end
  if n == 0 then return {} end
  local function widest(col)
    local w = 0
    for _, body in ipairs(tbl.bodies) do
      for _, row in ipairs(body.body) do
        local c = row.cells[col]
        if c then w = math.max(w, utf8.len(cell_text(c)) or 0) end
      end
    end
    return w
  end
  if widest(1) > MAX_FIRST then return tagged(tbl, heads) end
  -- the columns kept: the first, a short "default" if there is one, the last
  local keep = {1}
  for i = 2, n - 1 do
    if (heads[i] or ""):lower() == "default" and widest(i) <= MAX_DEFAULT then
      table.insert(keep, i)
    end
  end
  if n > 1 then table.insert(keep, n) end
  local kept = {}
  for _, i in ipairs(keep) do kept[i] = true end

  local out = {".TS", "tab(@);"}
  local fmt_head, fmt_body = {}, {}
  for k = 1, #keep do
    table.insert(fmt_head, "lB")
    table.insert(fmt_body, k == #keep and "lx" or "l")
  end
  fmt_body[1] = "lB"
  if #heads > 0 then
    table.insert(out, table.concat(fmt_head, " "))
  end
  table.insert(out, table.concat(fmt_body, " ") .. ".")
  if #heads > 0 then
    local h = {}
    for k, i in ipairs(keep) do
      local t = heads[i]:upper()
      if k == #keep and n > #keep then t = t end
      table.insert(h, short(t))
    end
    table.insert(out, table.concat(h, "@"))
    table.insert(out, "_")
  end
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local cells = row.cells
      local line = {}
      for k, i in ipairs(keep) do
        local text = cells[i] and cell_text(cells[i]) or ""
        if k == #keep then
          -- the folded columns first, then the last column's text
          local pre = {}
          for j = 2, n - 1 do
            if not kept[j] then
              local v = cells[j] and cell_text(cells[j]) or ""
              if v ~= "" and v ~= "-" and v ~= "—" then
                table.insert(pre, (heads[j] or "") .. ": " .. v)
              end
            end
          end
          if #pre > 0 then
            text = table.concat(pre, "; ") .. ". " .. text
          end
          table.insert(line, "T{\n" .. roff(text) .. "\nT}")
        else
          table.insert(line, short(text))
        end
      end
      table.insert(out, table.concat(line, "@"))
    end
  end
  table.insert(out, ".TE")
  return pandoc.RawBlock("man", table.concat(out, "\n"))
end
