#!/bin/sh
# congvu's offline installer, shipped in the bundle `make dist` builds. Run as root (no
# sudo needed) on the mail server, from the unpacked bundle:
#
#   ./install.sh [--prefix DIR] [--bindir DIR] [--python PYTHON]
#
# It installs congvu and every locked dependency from the bundle's wheels, never from
# the network (pip --no-index, hashes required), into a new virtual environment
# DIR/venvs/<version>-<time> (default DIR: /opt/congvu), then points DIR/venv at it and
# links DIR/venv/bin/congvu as BINDIR/congvu (default /usr/local/bin). The environment
# that ran before stays until the next install, and a failed install changes nothing:
# DIR/venv moves only once the new one is complete. Upgrading and rolling back are the
# same step: run the install.sh of the bundle you want, then restart congvu.
set -eu

prefix=${PREFIX:-/opt/congvu}
bindir=${BINDIR:-/usr/local/bin}
python=${PYTHON:-python3}
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --bindir) bindir=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

fail() { echo "install.sh: $*" >&2; exit 1; }

bundle=$(cd "$(dirname "$0")" && pwd)
version=$(cat "$bundle/VERSION")
wanted=$(cat "$bundle/PYTHON")
command -v "$python" >/dev/null 2>&1 \
    || fail "$python not found: apt-get install python3 python3-venv (deploy/debian-packages.txt)"
have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$have" = "$wanted" ] \
    || fail "this bundle's wheels are for Python $wanted, $python is $have: build the bundle on a machine with Python $wanted (make dist)"

mkdir -p "$prefix/venvs" "$bindir"
prefix=$(cd "$prefix" && pwd)
target="$prefix/venvs/$version-$(date -u +%Y%m%dT%H%M%SZ)"
[ ! -e "$target" ] || fail "$target exists: run install.sh again in a second"
trap 'rm -rf "$target"' EXIT
"$python" -m venv "$target" >/dev/null \
    || fail "$python -m venv failed: apt-get install python3-venv (deploy/debian-packages.txt)"

# Only the bundle: no pip configuration file, no PIP_* variable, no index.
export PIP_CONFIG_FILE=/dev/null
pip() {
    "$target/bin/python" -m pip --isolated --disable-pip-version-check --no-input -q "$@"
}
pip install --no-index --find-links "$bundle/wheels" --only-binary :all: \
    --require-hashes -r "$bundle/requirements.lock"
pip install --no-index --no-deps "$bundle"/wheels/congvu_mail-"$version"-*.whl
runs=$("$target/bin/congvu" --version) || fail "the new environment does not run congvu"

# What the guide and the units point at: the deploy files and the package list doctor reads.
mkdir -p "$target/share/congvu"
cp "$bundle/deploy/debian-packages.txt" "$target/share/congvu/"
rm -rf "$prefix/deploy.new"
cp -R "$bundle/deploy" "$prefix/deploy.new"
cp "$bundle/README.md" "$prefix/README.md.new"

previous=$(readlink "$prefix/venv" 2>/dev/null || true)
if [ -d "$prefix/venv" ] && [ ! -L "$prefix/venv" ]; then
    # an environment made by hand before the bundle existed: replaced, not kept
    rm -rf "$prefix/venv"
fi
ln -sfn "venvs/${target##*/}" "$prefix/venv.new"
mv -T "$prefix/venv.new" "$prefix/venv"
trap - EXIT
rm -rf "$prefix/deploy"
mv "$prefix/deploy.new" "$prefix/deploy"
mv "$prefix/README.md.new" "$prefix/README.md"
ln -sfn "$prefix/venv/bin/congvu" "$bindir/congvu"

# Keep the environment that ran before (a rollback without the previous bundle is
# pointing DIR/venv back at it); remove older ones.
for old in "$prefix"/venvs/*; do
    case "$old" in
        "$target"|"$prefix/$previous") ;;
        *) rm -rf "$old" ;;
    esac
done
echo "installed $runs in $target"
echo "$bindir/congvu -> $prefix/venv/bin/congvu; restart congvu to run it: systemctl restart congvu"
