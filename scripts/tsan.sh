#!/usr/bin/env bash
# ThreadSanitizer: builds the tests of seqserve's threaded parts (build-tsan, GCC, -O1) and
# runs them:
#   scripts/tsan.sh
# The parts: the batcher and its window, the scheduler and its worker pool, model loading,
# swapping and unloading in the repository, the thread budget, shared memory registration,
# tracing and logging. Fails on the first data race, lock-order inversion or other report.
# Not the gRPC and HTTP server tests: gRPC's core (Debian's, uninstrumented) hands objects
# between its threads through atomics TSan cannot see, and tried here they gave dozens of
# reports inside gRPC, abseil's Status and time-zone code, none in ours.
#
# Debian's abseil is not built with TSan, and TSan sees no lock taken in uninstrumented code:
# tests/tsan/CMakeLists.txt compiles abseil's synchronization sources, those of the installed
# libabsl-dev, with TSan. They come from Debian's mirror: `apt-get source` (which checks them
# against the mirror's signed index) through a private deb-src list, so that the machine's
# apt configuration is left as it was; kept in build-tsan/abseil-src for later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

tests=(batch_queue_test batch_window_test scheduler_test batch_runner_test heap_trimmer_test
       work_pool_test thread_budget_test model_repository_test model_control_test
       shared_memory_registry_test tracer_test trace_file_test logging_test log_settings_test)

version=$(dpkg-query -W -f='${source:Version}' libabsl-dev)
absl_src=$PWD/build-tsan/abseil-src
if [[ "$(cat "$absl_src/.version" 2>/dev/null)" != "$version" ]]; then
  echo "== abseil $version: the source, from Debian's mirror"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/parts" "$work/lists/partial" "$work/download"
  # The machine's own mirrors, as deb-src (deb822 files and one-line lists alike).
  : >"$work/sources.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    if [[ -f $f ]]; then sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$work/parts/${f##*/}"; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    if [[ -f $f ]]; then sed -n -E 's/^deb[[:space:]]/deb-src /p' "$f" >>"$work/sources.list"; fi
  done
  apt_opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
            -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update >/dev/null
  (cd "$work/download" && apt-get "${apt_opts[@]}" source --download-only "abseil=$version" >/dev/null)
  rm -rf "$absl_src"
  mkdir -p build-tsan
  # apt-get checked the files against the mirror's signed index; dpkg-source says it cannot
  # check the .dsc's own signature without debian-keyring, which is not needed for that.
  if ! dpkg-source -q -x "$work/download"/abseil_*.dsc "$absl_src" >"$work/unpack.log" 2>&1; then
    cat "$work/unpack.log" >&2
    exit 1
  fi
  echo "$version" >"$absl_src/.version"
fi

echo "== ThreadSanitizer build"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DSEQSERVE_TSAN=ON \
  "-DSEQSERVE_TSAN_ABSL_SOURCE=$absl_src" -DBUILD_TESTING=ON >/dev/null
cmake --build build-tsan -j"$jobs" --target "${tests[@]}"

echo "== ThreadSanitizer tests"
# halt_on_error: the first report fails its test; second_deadlock_stack: both stacks of a
# lock-order inversion. Suppressions (the file says why each): none of our code.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/sanitizers/tsan.supp"
# Each test case is labelled with its binary's name (tests/CMakeLists.txt).
labels="^($(IFS='|'; echo "${tests[*]}"))$"
(cd build-tsan && ctest --output-on-failure --no-tests=error -j"$jobs" -L "$labels")
echo "== tsan: all tests ran without a report"
