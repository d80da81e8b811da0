/** Every command of the CLI, with the help each one prints for `<command> --help`. */
export interface Command {
  name: string
  usage: string
  summary: string
  details?: string
}

export const COMMANDS: Command[] = [
  {
    name: 'serve',
    usage: 'serve',
    summary: 'Run the HTTP service (the default command).',
    details: 'Applies pending migrations first unless MIGRATE_ON_START=false. Stops gracefully on SIGTERM or SIGINT.',
  },
  { name: 'migrate', usage: 'migrate', summary: 'Apply pending database migrations and exit.' },
  { name: 'keys list', usage: 'keys list', summary: 'List the signing keys: which one signs, until when retired ones stay published.' },
  {
    name: 'keys rotate',
    usage: 'keys rotate',
    summary: 'Make a new key the signer; the old one stays published until its tokens expired.',
    details: 'Running instances switch to the new key within a minute. Keys expired long enough ago are deleted.',
  },
  { name: 'users disable', usage: 'users disable PHONE', summary: 'Disable a user and end every session of theirs.' },
  { name: 'users enable', usage: 'users enable PHONE', summary: 'Enable a disabled user again.' },
  { name: 'events list', usage: 'events list', summary: 'List the events not delivered to EVENTS_WEBHOOK_URL yet, and why the last try failed.' },
  {
    name: 'events retry',
    usage: 'events retry [ID...]',
    summary: 'Send the given events (default: every undelivered one) again now, with a fresh retry schedule.',
  },
  {
    name: 'import-django',
    usage: 'import-django --from URL [--dry-run] [--batch-size N]',
    summary: 'Copy the users of the original Django backend (accounts_user), ids kept.',
    details: 'Idempotent: a second run changes nothing. Numbers that do not parse or collide are listed, never merged.',
  },
  {
    name: 'audit',
    usage: 'audit [--user ID] [--type TYPE] [--since ISO-TIME] [--limit N]',
    summary: 'Show the audit trail of security events, newest first (100 by default).',
    details:
      'Types: code_sent, verify_failed, signed_in, limit_hit, refresh_reuse, logout, logout_all, user_disabled,\n' +
      'user_enabled, user_deleted, sessions_ended, key_rotated.',
  },
  {
    name: 'prune',
    usage: 'prune',
    summary: 'Delete old rate-limit counters, expired codes, ended sessions and audit rows past AUDIT_RETENTION_DAYS.',
  },
  { name: 'help', usage: 'help [COMMAND]', summary: 'Show this help, or the help of one command.' },
]

export function usage(): string {
  const width = 24
  // A usage too long for the column gets a line of its own, the summary below it.
  const lines = COMMANDS.map((c) =>
    c.usage.length < width ? `  ${c.usage.padEnd(width)}${c.summary}` : `  ${c.usage}\n  ${' '.repeat(width)}${c.summary}`,
  )
  return `Usage: nomisafe [command]\n\nCommands:\n${lines.join('\n')}\n\nSettings come from the environment; see the README and .env.example.\nRun "nomisafe COMMAND --help" for one command.`
}

/** The help of the command that `words` name (`keys rotate`, `users`), or the whole usage. */
export function helpFor(words: string[]): string {
  const name = words.filter((w) => !w.startsWith('-')).join(' ')
  const matches = COMMANDS.filter((c) => name !== '' && (c.name === name || c.name.startsWith(`${name} `)))
  if (matches.length === 0) return usage()
  return matches.map((c) => `Usage: nomisafe ${c.usage}\n\n${c.summary}${c.details ? `\n${c.details}` : ''}`).join('\n\n')
}
