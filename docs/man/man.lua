-- man.lua — pandoc filter for the man pages: tables become tagged paragraphs
-- (first cell the tag, the other cells joined), since wide tables do not fit
-- an 80-column terminal.
local function cell_blocks(cell)
  return cell.contents or cell
end

function Table(tbl)
  local items = {}
  local heads = {}
  if tbl.head and tbl.head.rows and #tbl.head.rows > 0 then
    for i, c in ipairs(tbl.head.rows[1].cells) do
      heads[i] = pandoc.utils.stringify(cell_blocks(c))
    end
  end
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local cells = row.cells
      local term = pandoc.utils.stringify(cell_blocks(cells[1]))
      local defs = {}
      for i = 2, #cells do
        local text = pandoc.utils.stringify(cell_blocks(cells[i]))
        if text ~= "" then
          local label = heads[i] and heads[i] ~= "" and (heads[i] .. ": ") or ""
          table.insert(defs, pandoc.Plain({pandoc.Str(label .. text)}))
        end
      end
      local blocks = {}
      for i, d in ipairs(defs) do
        table.insert(blocks, d)
        if i < #defs then table.insert(blocks, pandoc.LineBlock({})) end
      end
      table.insert(items, {{pandoc.Code(term)}, {blocks}})
    end
  end
  return pandoc.DefinitionList(items)
end
