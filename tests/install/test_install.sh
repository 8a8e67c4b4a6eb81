#!/bin/sh
# test_install.sh — make install into a temporary DESTDIR puts every file in
# place; the C program of docs/install.md, built with `pkg-config --cflags
# --libs --static vecguard` against that tree, links libvecguard.a,
# registers vecguard on a connection and answers SQL; the installed
# vecguard.so loads in the sqlite3 shell; make uninstall leaves no file
# behind.  make test passes BUILD; the prefix is the default, /usr.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
build="${VG_BUILD:-build}"
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
cd "$here"
make -s --no-print-directory install BUILD="$build" PREFIX=/usr DESTDIR="$dest" >"$dest.log" 2>&1 ||
  { cat "$dest.log"; rm -f "$dest.log"; echo "test_install: make install failed"; exit 1; }
rm -f "$dest.log"
for f in usr/lib/vecguard.so usr/lib/libvecguard.a usr/lib/pkgconfig/vecguard.pc usr/include/vecguard.h \
  usr/share/vecguard/sql/queue.sql usr/share/vecguard/sql/pii.sql usr/share/doc/vecguard/docs/vg_hnsw.md usr/share/doc/vecguard/README.md \
  usr/bin/vecguardd usr/lib/systemd/system/vecguardd.service; do
  [ -f "$dest/$f" ] || { echo "test_install: $f was not installed"; exit 1; }
done

# The C example of docs/install.md (its first ```c block).
awk '/^```c$/ && !done { on = 1; next } on && /^```$/ { on = 0; done = 1 } on' docs/install.md >"$dest/prog.c"
[ -s "$dest/prog.c" ] || { echo "test_install: docs/install.md has no \`\`\`c block"; exit 1; }
# The tree under $dest, as pkg-config sees an installed one there.
flags=$(PKG_CONFIG_PATH="$dest/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" \
  pkg-config --cflags --libs --static vecguard) || { echo "test_install: pkg-config does not find vecguard"; exit 1; }
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$dest/prog" "$dest/prog.c" $flags ||
  { echo "test_install: cannot build a program with: $flags"; exit 1; }
out=$("$dest/prog")
[ "$out" = "5 1" ] || { echo "test_install: the program printed '$out', not '5 1' (|[0,0]-[3,4]| and the version)"; exit 1; }
shell=$(printf '.load %s\nSELECT vg_distance(%s, %s);\n' "$dest/usr/lib/vecguard" "'[1, 1]'" "'[4, 5]'" | sqlite3 :memory:)
[ "$shell" = "5.0" ] || { echo "test_install: the installed vecguard.so in the sqlite3 shell gave '$shell'"; exit 1; }
# vecguardd runs, and its unit starts the installed binary
[ -x "$dest/usr/bin/vecguardd" ] && "$dest/usr/bin/vecguardd" --help | grep -q "vecguardd serve" ||
  { echo "test_install: the installed vecguardd does not run"; exit 1; }
grep -q '^ExecStart=/usr/bin/vecguardd serve --data-dir /var/lib/vecguard --listen 127.0.0.1:8470$' \
  "$dest/usr/lib/systemd/system/vecguardd.service" ||
  { echo "test_install: the installed unit does not start /usr/bin/vecguardd"; exit 1; }

make -s --no-print-directory uninstall BUILD="$build" PREFIX=/usr DESTDIR="$dest"
left=$(find "$dest/usr" -type f | wc -l)
[ "$left" -eq 0 ] || { echo "test_install: make uninstall left files:"; find "$dest/usr" -type f; exit 1; }
echo "test_install: installed in a DESTDIR, built a program with pkg-config ($flags), ran it (5 1), loaded the .so in sqlite3, ran vecguardd, uninstalled"
