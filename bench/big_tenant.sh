# Sourced by bench_vecguardd.sh and bench_sync.sh: the 100,000-document
# tenant both measure, built once into $cache and reused while ext/ is the
# commit's (its git tree id is kept beside it) or, with ext/ edited, while it
# is newer than libvecguard.a.  Needs $root, $cache, $lib, $daemon, $helper
# and $ndocs.
big_tenant() {
  stamp=""
  if git -C "$root" diff --quiet HEAD -- ext 2>/dev/null; then
    stamp=$(git -C "$root" rev-parse HEAD:ext 2>/dev/null || true)
  fi
  if [ -f "$cache/tenants/big.db" ] && [ -f "$cache/key" ] &&
    if [ -n "$stamp" ]; then
      [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]
    else
      [ -n "$(find "$cache/tenants/big.db" -newer "$lib" 2>/dev/null)" ]
    fi; then
    echo "reusing the tenant built earlier in $cache (remove it to build again)"
  else
    rm -rf "$cache"
    mkdir -p "$cache"
    "$daemon" tenant create big --data-dir "$cache" | sed -e 's/.*"key": "\([^"]*\)".*/\1/' >"$cache/key"
    "$helper" build "$cache" big "$ndocs"
    echo "$stamp" >"$cache/stamp"
  fi
}
