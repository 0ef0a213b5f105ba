/** The environment a command reads (process.env or a test's own). */
export type Env = Record<string, string | undefined>;
