#!/usr/bin/env bash
# Builds the packaged application from this checkout (build_app.spec -> dist/adgui/, or with
# --station its station target -> dist/adgui-station/) and checks it the way a factory PC runs it:
# from a folder outside the source tree, with an empty environment, an empty HOME and (where the
# system allows it) no network. Exits 0 only if the self-test passed and the window opened and
# closed cleanly offscreen; for the station build also only if its folder holds no torch or CUDA
# library and stays under STATION_LIMIT_MB.
#
#     scripts/build_and_check.sh                      # full build, then check
#     scripts/build_and_check.sh --station            # station build (no torch), then check
#     scripts/build_and_check.sh [--station] --no-build   # check an existing build
#
# PYINSTALLER names the pyinstaller to use (default: .venv/bin/pyinstaller, made by setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
pyinstaller=${PYINSTALLER:-$root/.venv/bin/pyinstaller}
station_limit_mb=${STATION_LIMIT_MB:-600}

build=1 target=full name=adgui
for option in "$@"; do
    case "$option" in
        --no-build) build=0 ;;
        --station) target=station name=adgui-station ;;
        *) echo "unknown option $option" >&2; exit 2 ;;
    esac
done

if [ "$build" = 1 ]; then
    started=$(date +%s)
    "$pyinstaller" --noconfirm --clean --log-level WARN \
        --distpath "$root/dist" --workpath "$root/build/$target" "$root/build_app.spec" \
        -- --target "$target"
    echo "build: $(( $(date +%s) - started )) s"
fi
folder="$root/dist/$name"
app="$folder/$name"
[ -x "$app" ] || { echo "no build at $app" >&2; exit 1; }
size_mb=$(du -sm "$folder" | cut -f1)
echo "size: ${size_mb} MB ($(du -sh "$folder" | cut -f1)) in $(find "$folder" -type f | wc -l) files"

status=0
if [ "$target" = station ]; then
    torch_files=$(find "$folder" \( -name 'libtorch*' -o -name 'libcu*' -o -name 'libnvrtc*' \
        -o -name 'libcudnn*' -o -name 'libnccl*' -o -name 'libc10*' \
        -o \( -type d \( -name torch -o -name nvidia -o -name timm -o -name torchvision -o -name cuda \) \) \) \
        -print)
    if [ -n "$torch_files" ]; then
        echo "torch or CUDA files in the station build:" >&2
        echo "$torch_files" | head -20 >&2
        status=1
    else
        echo "no torch or CUDA library in the folder"
    fi
    if [ "$size_mb" -ge "$station_limit_mb" ]; then
        echo "station build is ${size_mb} MB, over ${station_limit_mb} MB" >&2
        status=1
    fi
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/home" "$scratch/run"
isolate=()
if unshare -rn true 2>/dev/null; then
    isolate=("$(command -v unshare)" -rn)  # a network namespace with nothing but loopback
else
    echo "note: cannot drop the network here (unshare -rn); running with it" >&2
fi
run_app() {  # extra environment variables in $extra_env
    (cd "$scratch/run" && env -i HOME="$scratch/home" QT_QPA_PLATFORM=offscreen ${extra_env:-} \
        "${isolate[@]}" "$app" "$@")
}

echo "== $name self-test"
run_app self-test || { echo "self-test exit code $?" >&2; status=1; }
echo "== $name --smoke-test (window, offscreen)"
run_app --smoke-test || { echo "window check exit code $?" >&2; status=1; }
if [ "$target" = station ]; then
    # Basler's camera emulation (in the pypylon wheel): the camera drivers load in the build.
    echo "== $name inspect --source pylon:0815-0000 (emulated Basler camera)"
    extra_env=PYLON_CAMEMU=1 run_app inspect --source pylon:0815-0000 --count 3 --no-db \
        --model "$folder/_internal/resources/sample_recipe" \
        || { echo "camera check exit code $?" >&2; status=1; }
fi
[ "$status" = 0 ] && echo "packaged build: all checks passed" || echo "packaged build: FAILED" >&2
exit "$status"
