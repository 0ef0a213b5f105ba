// `ferry --help`: the commands (from their specs), examples, and the options every store command
// shares (from their declarations in config/). Each command's own help is renderHelp(its spec).
import { STORE_GROUPS } from './config.ts';
import { COMMANDS } from './commands/index.ts';
import { renderGroup } from './flags/help.ts';

const EXAMPLES = `Examples:
  ./ferry run --aws-config config -- converge super
  s3_input=s3://my-simulation-data/input/hsdi.zip s3_output=s3://my-simulation-data/output/hsdi/ \\
    ./ferry run -- converge super
  HTTPS_PROXY=http://proxy.corp:8080 ./ferry run --proxy-auth-file proxy-auth --aws-config config -- converge super
  ./ferry run --proxy-pac http://wpad.corp/proxy.pac --proxy-auth-file proxy-auth -- converge super
  ferry get s3://my-simulation-data/input/hsdi.zip ./case
  ferry put ./results s3://my-simulation-data/output/hsdi/
  ./ferry run --azure-config azure --input az://simdata/cases/in/hsdi.zip --output az://simdata/cases/out/hsdi/ \\
    -- converge super

URIs: s3://BUCKET/KEY, az://ACCOUNT/CONTAINER/PATH or https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH
(a SAS may follow ?; it is never printed); input and output may be in different stores.`;

const EXIT_CODES = `Exit codes: the solver's own code when ferry succeeded; else
  64 usage, or inputs that collide  65 invalid or hostile input  66 input or a bucket not found
  69 endpoint, proxy or PAC unreachable  73 an upload failed or could not be verified  74 local I/O error
  75 another ferry runs in this run dir or writes this output prefix
  77 access denied / bad credentials / the proxy refused the account or offers only Negotiate
  126 the solver could not be started  128+N killed by signal N
  doe status and verify: 0 every row complete / the prefix whole, 1 not (the list says why)`;

export function mainHelp(): string {
  const commands = COMMANDS.map((c) => `  ferry ${c.name.padEnd(14)}${c.summary}`);
  return (
    [
      "ferry: move a DOE run's input from S3 or Azure Blob, run the solver under MPI,\nput the outputs back, verified.",
      ['Usage:', ...commands, '  ferry --version | --help | COMMAND --help'].join('\n'),
      EXAMPLES,
      ...STORE_GROUPS.map(renderGroup),
      EXIT_CODES,
    ].join('\n\n') + '\n'
  );
}
