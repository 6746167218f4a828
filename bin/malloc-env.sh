# glibc malloc settings for every visionloop process. Sourced (POSIX sh) by bin/visionloop before
# it execs node, and by bench/swap-under-load.bench.ts so the bench measures what users run.
# glibc reads these when a process starts, so they must be in the environment before node is.
#
# Why (docs/architecture.md, "Memory across swaps"): every hot swap starts a new inference worker
# thread, and glibc gives new threads their own malloc arenas (up to 8 per core); memory freed in
# an arena goes back to the system only from the arena's top, so RSS ratchets up swap after swap.
# A small arena cap makes threads reuse arenas; a fixed mmap threshold (which also stops glibc
# raising it on its own) sends big tensor and weight buffers to mmap, returned when freed.
#
# A value already in the environment wins (even an empty one); VISIONLOOP_MALLOC=default sets
# nothing and leaves glibc's defaults. VISIONLOOP_MALLOC_ADDED names the variables set here (not
# the user's): the trainer's Python process is started without them (src/shared/launcher-env.ts),
# because the fixed mmap threshold doubles PyTorch's CPU time per training step.
case "${VISIONLOOP_MALLOC:-tuned}" in
  tuned)
    VISIONLOOP_MALLOC_ADDED=${VISIONLOOP_MALLOC_ADDED-}
    if [ -z "${MALLOC_ARENA_MAX+set}" ]; then
      MALLOC_ARENA_MAX=2
      VISIONLOOP_MALLOC_ADDED="${VISIONLOOP_MALLOC_ADDED:+$VISIONLOOP_MALLOC_ADDED }MALLOC_ARENA_MAX"
    fi
    if [ -z "${MALLOC_MMAP_THRESHOLD_+set}" ]; then
      MALLOC_MMAP_THRESHOLD_=131072
      VISIONLOOP_MALLOC_ADDED="${VISIONLOOP_MALLOC_ADDED:+$VISIONLOOP_MALLOC_ADDED }MALLOC_MMAP_THRESHOLD_"
    fi
    export MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_ VISIONLOOP_MALLOC_ADDED
    ;;
  default) ;;
  *)
    echo "visionloop: VISIONLOOP_MALLOC must be 'tuned' or 'default', not '${VISIONLOOP_MALLOC}'" >&2
    exit 2
    ;;
esac
