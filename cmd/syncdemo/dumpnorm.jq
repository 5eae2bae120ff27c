# dumpnorm.jq makes two mailbox dumps comparable: one of
# "syncdemo query -json dump" and one of ewstest's control endpoint
# (GET /ewstest/control/mailbox?address=A). Use it on both sides:
#
#   diff <(jq -S -f dumpnorm.jq server.json) <(jq -S -f dumpnorm.jq mirror.json)
#
# A server dump keeps only the folders below msgfolderroot (what a sync
# mirrors; root, msgfolderroot itself, Finder and Recoverable Items are not);
# fields only the server knows (database, distinguishedId, changeNumber,
# flagStatus) are dropped; folders and items are sorted by id, because the
# server lists folders in creation order and items in arrival order where
# the mirror lists folders by name and items by DateTimeReceived.
def subtree:
  if any(.folders[]; .distinguishedId == "msgfolderroot") then
    .folders |= (reduce .[] as $f ({in: {}, out: []};
      if $f.distinguishedId == "msgfolderroot" then .in[$f.id] = true
      elif .in[$f.parentId // ""] then .in[$f.id] = true | .out += [$f]
      else . end) | .out)
  else . end;
def norm:
  subtree
  | del(.database)
  | .folders |= (map(del(.distinguishedId, .changeNumber)
      | if .items then .items |= (map(del(.flagStatus)) | sort_by(.id)) else . end)
    | sort_by(.id));
if .mailboxes then .mailboxes |= (map(norm) | sort_by(.address)) else norm end
