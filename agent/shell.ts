// Words of POSIX shell command lines ferry prints for the user to paste.

/** `word` as one word of a shell command line: as is when plain, else in single quotes. */
export function shellWord(word: string): string {
  return /^[\w./+=:@,%-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
