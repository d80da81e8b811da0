// Run by `deno task compile` before `deno compile`, which downloads Deno's runtime (denort) for the
// executable and, where that host is unreachable, can wait a long time before failing. Here it
// fails at once with what to do instead.
export {}

const RUNTIME_HOST = 'https://dl.deno.land/'
const TIMEOUT_MS = 10_000

if (!Deno.env.get('DENORT_BIN')) {
  try {
    await fetch(RUNTIME_HOST, { method: 'HEAD', signal: AbortSignal.timeout(TIMEOUT_MS) }).then((res) => res.body?.cancel())
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : ''
    const reason = `${err instanceof Error ? err.message : String(err)}${cause}`
    console.error(
      `deno compile needs Deno's runtime download from ${RUNTIME_HOST}, which this machine cannot reach (${reason}).\n` +
        'Build the Deno executable where that download works, or set DENORT_BIN to a local denort binary.\n' +
        'An executable that builds offline: npm run build:binary (Bun) writes dist/nomisafe.',
    )
    Deno.exit(1)
  }
}
