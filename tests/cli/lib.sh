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

# expect CODE NEEDLE CMD...: runs CMD, checks the exit code and that NEEDLE is in its stderr.
expect() {
    local code=$1 needle=$2
    shift 2
    expect_exit "$code" "$@"
    [ -z "$needle" ] || contains "$tmp/err" "$needle"
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

# tiny_model FILE SIDE KEY=VALUE...: writes a model for 1 x SIDE x SIDE images of 3 classes
# (conv1: 4 filters 3x3 + relu, maxpool 2, fc1, softmax loss) whose [train] section has the keys.
tiny_model() {
    local file=$1 side=$2
    shift 2
    {
        printf '[net]\ninput = 1x%sx%s\nclasses = 3\n\n' "$side" "$side"
        printf '[conv]\nname = conv1\nfilters = 4\nsize = 3\npad = same\nact = relu\n\n'
        printf '[maxpool]\nsize = 2\n\n[fc]\nname = fc1\noutput = 3\n\n[softmax_loss]\n\n[train]\n'
        printf '%s\n' "$@" | sed 's/=/ = /'
    } >"$file"
}
