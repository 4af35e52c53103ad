/** `--name value` command-line options, with defaults (no dependency for a dozen flags). */

export function parseArgs(argv: readonly string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new Error(`Unexpected argument ${arg}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (inline !== undefined) options.set(name, inline);
    else if (argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--'))
      options.set(name, argv[++i] as string);
    else options.set(name, 'true');
  }
  return options;
}

export function numberOption(options: Map<string, string>, name: string, fallback: number): number {
  const raw = options.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, got ${raw}`);
  return value;
}

export function listOption(options: Map<string, string>, name: string): string[] | undefined {
  return options.get(name)?.split(',').filter(Boolean);
}
