# Shared by the command-line tests (sourced): arguments, a scratch folder, failure counting.
# usage in a test: source "$(dirname "$0")/lib.sh" "$@"   (args: PDL_BINARY SOURCE_DIR)
set -u
pdl=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAILED: $*" >&2
    failures=$((failures + 1))
}

# expect_exit CODE CMD...: runs CMD, checks its exit code; output in $tmp/out, $tmp/err
expect_exit() {
    local want=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want: $(head -c 400 "$tmp/err")"
}

contains() { # FILE TEXT
    grep -qF -- "$2" "$1" || fail "$(basename "$1") of the last command lacks '$2'"
}

# Prints the summary and exits non-zero when anything failed.
finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$(basename "$0"): $failures failure(s)" >&2
        exit 1
    fi
    echo "$(basename "$0"): all passed"
}
