#!/bin/sh
# Install better-sqlite3, the driver tests/bindings/test_node.js loads vecguard
# with, from the npm registry alone, into PREFIX/node_modules (PREFIX defaults
# to this checkout's build/); print that node_modules folder.
#
#   tests/bindings/node_deps.sh [PREFIX]
#
# Nothing is fetched from anywhere but the npm registry: better-sqlite3's
# install script would download a prebuilt addon from GitHub, so
# npm_config_build_from_source has node-gyp compile it here instead (with the
# SQLite it bundles: about a minute; needs make, g++ and python3), and
# npm_config_nodedir points node-gyp at the headers of the Node that runs,
# which it would otherwise download from nodejs.org: NodeSource's nodejs has
# them in /usr/include/node, Debian's in libnode-dev, which its npm brings.
# (npm 11 warns that build-from-source is not its own setting; it is
# prebuild-install's, which reads it from the environment.) An install that
# already loads in this Node is kept.
#
# better-sqlite3 12 needs Node 20 and 13 needs Node 22 (13 installs on 20 with
# a warning, then crashes it): Node 18 and 19 get 11.10.0.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-$here/../../build}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
modules=$prefix/node_modules

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node_deps.sh: node and npm are needed (Debian 12: apt-get install nodejs npm)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "node_deps.sh: Node $(node --version) is too old: the helper and its test need Node 18 or later" >&2
  exit 1
fi
if [ "$major" -lt 20 ]; then want=11.10.0; else want=12.11.1; fi

# loads: the installed better-sqlite3 is version $want and opens a database here.
loads() {
  VG_MODULES=$modules VG_WANT=$want node -e '
    const dir = process.env.VG_MODULES + "/better-sqlite3";
    if (require(dir + "/package.json").version !== process.env.VG_WANT) process.exit(1);
    new (require(dir))(":memory:").close();
  ' >/dev/null 2>&1
}

if ! loads; then
  npm_config_build_from_source=true
  export npm_config_build_from_source
  node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  if [ -f "$node_prefix/include/node/node.h" ]; then
    npm_config_nodedir=$node_prefix
    export npm_config_nodedir
  fi
  echo "node_deps.sh: installing better-sqlite3@$want for Node $(node --version) into $modules" \
    "(compiling it: about a minute)" >&2
  rm -rf "$modules/better-sqlite3"
  # npm's report goes to stderr: stdout is for the folder alone.
  if ! npm install --prefix "$prefix" --no-save --no-audit --no-fund "better-sqlite3@$want" >&2; then
    echo "node_deps.sh: npm could not install better-sqlite3@$want (above)" >&2
    exit 1
  fi
  if ! loads; then
    echo "node_deps.sh: better-sqlite3@$want was installed in $modules but does not load in" \
      "Node $(node --version)" >&2
    exit 1
  fi
fi
echo "$modules"
