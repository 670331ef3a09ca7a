#!/usr/bin/env bash
# The README's walk-through with curl, against a running router:
#     ROUTER=http://127.0.0.1:8080 ADMIN=http://127.0.0.1:8081 bash scripts/test-manual.sh
# It issues a key, sends a message with it (this one reaches the upstream), lists and revokes the
# key, and shows that the revoked key is refused. The admin calls go to ADMIN (the loopback admin
# listener, ADMIN_PORT); set ADMIN_KEY if TOKEN_ADMIN_KEY is set (then ADMIN may be ROUTER).
set -euo pipefail
ROUTER=${ROUTER:-http://127.0.0.1:8080}
ADMIN=${ADMIN:-http://127.0.0.1:8081}
MODEL=${MODEL:-claude-sonnet-5-5}
admin=()
if [ -n "${ADMIN_KEY:-}" ]; then admin=(-H "Authorization: Bearer $ADMIN_KEY"); fi

step() { printf '\n== %s\n' "$*"; }

step "health and readiness"
curl -fsS "$ROUTER/health"; echo
curl -sS "$ROUTER/ready"; echo

step "issue a key"
issued=$(curl -fsS "${admin[@]}" -X POST "$ADMIN/api/tokens" -d '{"ttl_hours":1,"label":"manual-test"}')
token=$(printf '%s' "$issued" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
id=$(printf '%s' "$issued" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "key id $id"

step "a message through the router"
curl -sS "$ROUTER/v1/messages" -H "x-api-key: $token" -H 'anthropic-version: 2023-06-01' \
  -H 'content-type: application/json' \
  -d "{\"model\":\"$MODEL\",\"max_tokens\":32,\"messages\":[{\"role\":\"user\",\"content\":\"Say hi\"}]}"
echo

step "the same, streamed"
curl -sSN "$ROUTER/v1/messages" -H "Authorization: Bearer $token" -H 'anthropic-version: 2023-06-01' \
  -H 'content-type: application/json' \
  -d "{\"model\":\"$MODEL\",\"max_tokens\":32,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Say hi\"}]}"
echo

step "list keys (never the keys themselves)"
curl -fsS "${admin[@]}" "$ADMIN/api/tokens/list"; echo

step "revoke it"
curl -fsS "${admin[@]}" -X POST "$ADMIN/api/tokens/revoke" -d "{\"id\":\"$id\"}"; echo

step "the revoked key is refused (403 permission_error)"
sleep 2.5  # KEY_CACHE_TTL_S
curl -sS -o /dev/stderr -w '%{http_code}\n' "$ROUTER/v1/messages" -H "x-api-key: $token" -d '{}'
