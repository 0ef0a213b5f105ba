export const MAIN_HELP = `ferry: move a DOE run's input from S3 or Azure Blob, run the solver under MPI,
put the outputs back, verified.

Usage:
  ferry run [options] [--] SOLVER [ARGS...]   download input, run SOLVER under mpirun, upload, wipe
  ferry get [options] URI DIR                 download (and extract) only
  ferry put [options] DIR URI                 upload (and verify) only
  ferry verify [--deep] URI...                is an output prefix whole, as its manifest says?
  ferry check [--input URI...] [--output URI] would a run get through? credentials, route, read, write
  ferry policy --input URI --output URI       the least-privilege IAM policy (Azure: SAS, role)
  ferry doe init | doe rehearse               set up a DOE; run every row locally first
  ferry doe status inputs.csv                 every row's outcome; the rows to retry; an HTML report
  ferry --version | --help | COMMAND --help

Examples:
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
(a SAS may follow ?; it is never printed); input and output may be in different stores.

S3 options (all commands):
  --aws-config FILE       AWS config/credentials file ([default] or --profile): static keys (+ session
                          token, aws_credential_expiration), role_arn + source_profile/credential_source
                          (external_id), credential_process, sso_* (token cache), web_identity_token_file;
                          renewed before they expire; without it the SDK's default chain (env, ~/.aws,
                          instance role). STS: AWS_ENDPOINT_URL_STS, the profile, else the S3 endpoint
  --profile NAME          profile in that file (default: AWS_PROFILE, else default)
  --endpoint URL          S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
                          or endpoint_url in the config file); implies path-style addressing
  --region NAME           default: AWS_REGION, config file, else us-east-1
  --retries N             attempts per request, including the first (default 5; exponential
                          backoff with jitter on throttling, 5xx, resets and timeouts)
  --timeout SECONDS       a request with no byte in either direction for this long is abandoned
                          and retried; a download resumes where it stopped (default 120)
  --concurrency N         files over 1 MiB in flight (default 4)
  --small-concurrency N   files of 1 MiB or less in flight, in a lane of their own (default 64)
  --part-concurrency N    parts of one file in flight (default 4)
  --part-size SIZE        multipart part size, min 5MiB (default 8MiB)
  --memory SIZE           memory bound: all transfer buffers together hold at most this
                          (default 256MiB; at least --part-size)
  --proxy URL             HTTP proxy for every request, http://host:port (default: the PAC file,
                          else HTTPS_PROXY / HTTP_PROXY minus NO_PROXY)
  --proxy-pac URL|FILE    PAC file choosing the proxy per host (default: env FERRY_PROXY_PAC);
                          fetched once, run in a sandbox; PROXY a; PROXY b; DIRECT in order
  --proxy-auth-file FILE  the proxy account, one line user:password or DOMAIN\\user:password, for
                          whichever proxy is chosen (Basic, Digest or NTLMv2, the strongest offered;
                          keep it chmod 600). Without it: http://USER:PASSWORD@host:port in the URL
  --sse AES256|aws:kms    server-side encryption for uploads (--sse-kms-key-id KEY with aws:kms)
  --storage-class CLASS   e.g. STANDARD_IA, INTELLIGENT_TIERING
  (--retries, --timeout, --proxy, --concurrency, --part-concurrency, --part-size and --memory apply
  to Azure Blob too; a part is a block there)

Azure Blob options (all commands):
  --azure-config FILE     credentials file uploaded with the job, as the Azure CLI's config:
                          [storage] with connection_string, or account + key, or sas_token, or
                          tenant_id + client_id + client_secret, or auth_mode = login (managed
                          identity); blob_endpoint = URL for an emulator or another cloud
  without it, the environment: AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT +
  AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET,
  AZURE_STORAGE_AUTH_MODE=login (managed identity); AZURE_STORAGE_SERVICE_ENDPOINT for the endpoint
  --log-format text|json  json: one JSON event per line (phase, bytes, files, duration, errors)
  --quiet                 only errors and the solver's output on the console

Exit codes: the solver's own code when ferry succeeded; else
  64 usage, or inputs that collide  65 invalid or hostile input  66 input or a bucket not found
  69 endpoint, proxy or PAC unreachable  73 an upload failed or could not be verified  74 local I/O error
  75 another ferry runs in this run dir or writes this output prefix
  77 access denied / bad credentials / the proxy refused the account or offers only Negotiate
  126 the solver could not be started  128+N killed by signal N
  doe status and verify: 0 every row complete / the prefix whole, 1 not (the list says why)
`;

export const RUN_HELP = `Usage: ferry run [options] [--] SOLVER [ARGS...]

Downloads the input into the run directory (a .zip is extracted), runs SOLVER under
mpirun -np N, uploads every file the run created or changed to the output prefix, verifies
each upload (size + ETag), writes <output>_manifest.json, the run log as <output>_ferry.log and,
for a complete run, <output>_SUCCESS last; only then it deletes what it accounts for: the inputs
as extracted, the outputs the run created as uploaded, and — when they sit at the top of the run
directory — the --aws-config, --azure-config, --vars, --proxy-auth-file and --proxy-pac files and
ferry itself (each named in the log; never uploaded, wherever they sit). Anything else stays,
files that were there before ferry started always (listed in the log and the manifest); ferry.log
stays. Inputs are checked before anything is downloaded: a key that would land outside the run
directory (65), two inputs on one path or one over a file that was there before (64).

Options:
  --input URI        s3://b/k.zip (extracted), s3://b/k (as is), s3://b/prefix/ (all objects);
                     az://ACCOUNT/CONTAINER/… the same on Azure Blob
                     default: env s3_input; may repeat
  --output URI       s3://b/prefix/ or az://ACCOUNT/CONTAINER/prefix/ for outputs (default: env s3_output)
  --vars FILE        key=value file (# comments, optional quotes) with s3_input / s3_output;
                     its values win over the environment, flags win over it
  --workdir DIR      run directory (default: current directory)
  --np N             MPI ranks (default: env RESCALE_CORES_PER_SLOT, else 8)
  --mpirun PATH      launcher (default: mpirun on PATH)
  --mpi-arg ARG      extra launcher argument (repeatable)
  --no-mpi           run SOLVER directly, without a launcher
  --hostfile FILE    machinefile (default: $HOME/machinefile when it exists)
  --upload-all       upload every file in the run directory, like 'aws s3 sync .'
                     (the job's credential files and ferry itself are never uploaded)
  --keep             delete nothing after the upload
  --wipe-all         after every upload is verified, empty the whole run directory (ferry.log
                     stays), like the old 'rm -rf *'; refused in a home directory or at a mount point
  --take-over        take the output prefix's lease from a run that stopped renewing it
                     (a second run on one output prefix otherwise exits 75)
  --solver-env-credentials  leave the store credentials and tokens (AWS_ACCESS_KEY_ID…, AZURE_*,
                     IDENTITY_HEADER…) and the account in HTTP(S)_PROXY in the solver's
                     environment (removed by default; see README "Secrets")
  --dry-run          show what would be downloaded, launched, uploaded and deleted; change nothing
  --settle SECONDS   while the solver runs, upload outputs unchanged for this long (default 30);
                     a file changed afterwards is uploaded again
  --no-live-upload   upload only after the solver exits
  --grace SECONDS    after SIGTERM/SIGINT, how long the solver gets to stop before it and
                     every process it started are killed; also how long processes the run left
                     behind get after SIGTERM once the launcher exited (default 60)
  --max-extract SIZE refuse input archives that unpack to more than SIZE (e.g. 200GiB)
  plus the S3 and Azure Blob options of ferry --help

Examples:
  ./ferry run --aws-config config -- converge super
  ./ferry run --vars vars.txt --aws-config config --np 16 -- converge super
  ./ferry run --input s3://b/input/case.zip --output s3://b/output/case/ --no-mpi -- ./run.sh
  HTTPS_PROXY=http://proxy.corp:8080 ./ferry run --proxy-auth-file proxy-auth --aws-config config -- converge super
  ./ferry run --aws-config config --azure-config azure --input s3://b/input/case.zip \\
    --output az://simdata/results/case/ -- converge super
`;

export const GET_HELP = `Usage: ferry get [options] URI DIR

  s3://b/k.zip       extracted into DIR
  s3://b/k           saved as DIR/<last part of the key>
  s3://b/prefix/     every object under it, relative paths kept (zips extracted)
  az://ACCOUNT/CONTAINER/…   the same on Azure Blob
Options: the S3 and Azure Blob options of ferry --help, and
  --max-extract SIZE refuse archives that unpack to more than SIZE (default: the free space)
Example: ferry get --aws-config config s3://my-simulation-data/input/hsdi.zip ./hsdi
`;

export const PUT_HELP = `Usage: ferry put [options] DIR URI

Uploads every file under DIR: DIR/a/b goes to <URI>a/b. Each upload is verified (size + ETag on
S3, size + Content-MD5 on Azure Blob).
Files already under URI with the same bytes are not sent again; a _SUCCESS there is withdrawn
(the prefix is changing), and put writes no manifest (ferry run does).
Options: the S3 and Azure Blob options of ferry --help.
Example: ferry put --aws-config config ./results s3://my-simulation-data/output/hsdi/
         ferry put --azure-config azure ./results az://simdata/results/hsdi/
`;

export const POLICY_HELP = `Usage: ferry policy --input URI [--input URI...] --output URI [--bucket-policy PRINCIPAL]
       ferry policy --input URI... --output URI --cross-account ACCOUNT_ID [--external-id ID]

Prints the least-privilege policy (JSON, on stdout) that ferry run needs for these inputs and
this output prefix: read the inputs; write, verify, resume and clean up under the output prefix;
nothing else. What each action is for goes to stderr.
  --bucket-policy PRINCIPAL   a bucket policy naming PRINCIPAL (e.g. arn:aws:iam::123456789012:role/cfd)
                              instead of an IAM policy to attach to the user or role
  --cross-account ACCOUNT_ID  the cross-account setup: stdout is {"PermissionsPolicy", "TrustPolicy"} for a
                              role in the data's account that ACCOUNT_ID (or an IAM ARN) may assume;
                              stderr has the aws iam commands and the profile for the job's config file
  --external-id ID            with --cross-account: the trust policy requires sts:ExternalId = ID
                              (the profile then carries external_id = ID)
With az:// URIs: per container the service SAS permissions (rl to read inputs, rwdl for the output)
and the built-in role (Storage Blob Data Reader / Contributor); both cover the whole container.
With both stores, the IAM policy for the S3 side is under "aws".
Example: ferry policy --input s3://my-simulation-data/input/ --output s3://my-simulation-data/output/ > policy.json
         ferry policy --input s3://my-simulation-data/input/ --output s3://my-simulation-data/output/ \\
           --cross-account 123456789012 --external-id cfd-42 > setup.json
         ferry policy --input az://simdata/cases/in/ --output az://simdata/cases/out/
`;

export const DOE_HELP = `Usage:
  ferry doe init --inputs s3://BUCKET/input/ --output s3://BUCKET/output/ [--dir DIR] [--force] [-- SOLVER...]
      one row per input zip: writes inputs.csv (s3_input,s3_output; the output prefix is named after
      the zip) and ferry-vars.txt (the template the platform renders per row), and prints the job
      setup: files to upload, template, command line, cores per slot, the ferry policy to attach.
  ferry doe rehearse inputs.csv [--slots N] [--vars-template FILE] [--rehearsal-dir DIR] [run options] -- SOLVER...
      runs every row locally as the platform would (a fresh directory per row under ./rehearsal,
      the template rendered, the --aws-config and --azure-config files copied in, N rows at once) against the configured
      endpoint, then prints per row: exit code, bytes in/out, wall time, manifest status, output.
  ferry doe status inputs.csv [--json] [--retry-csv FILE] [--html FILE] [S3 options]
      every row's outcome read back from its output prefix; see ferry doe status --help.
Example:
  ferry doe init --inputs s3://my-simulation-data/input/ --output s3://my-simulation-data/output/
  ferry doe rehearse inputs.csv --slots 2 --aws-config config -- converge super
  ferry doe status inputs.csv --aws-config config --retry-csv retry.csv --html status.html
`;

export const DOE_STATUS_HELP = `Usage: ferry doe status inputs.csv [options]
       ferry doe status --output s3://BUCKET/PREFIX/ [options]

Reads every row's outcome back from its output prefix (the manifest, _SUCCESS, the lease of a run
under way), rows side by side, and prints one line per row: name, status, the solver's exit code,
output files and bytes, duration, ferry version; then a count per status. Statuses:
  complete       the solver exited 0 and every output is verified (manifest complete + _SUCCESS)
  solver-failed  the solver exited non-zero (its outputs are uploaded and verified)
  incomplete     stopped by a signal, or files not verified (or complete without _SUCCESS)
  started        objects but no manifest yet: running, or the run died without one
  no-output      nothing under the output prefix: the row never ran
Rows come from the run definition file (the s3_output column; named after what differs between
the outputs), or with --output from the folders directly under that prefix (a row that wrote
nothing has no folder there, so it cannot be listed that way).
Options:
  --json             the same as JSON lines: {"type":"row",...} per row, then {"type":"counts",...}
  --retry-csv FILE   write the rows that are not complete (same columns, same cells) as a run
                     definition to submit as a new DOE; a re-run of a row resumes where it stopped.
                     Written even when empty. Needs inputs.csv (not --output)
  --html FILE        one self-contained page (no network, no script): a grid of rows coloured by
                     status, a duration bar and the bytes out per row, the rows that need attention
                     first with their exit code and the last lines of their uploaded ferry.log
  --concurrency N    rows read at once (default 16)
  plus the S3 options of ferry --help (reading needs s3:GetObject and s3:ListBucket on the outputs)
Exit: 0 when every row is complete, 1 when one is not; 64/66/69/77 when the rows cannot be read.
Examples:
  ferry doe status inputs.csv --aws-config config
  ferry doe status inputs.csv --aws-config config --retry-csv retry.csv --html status.html
  ferry doe status --output s3://my-simulation-data/output/ --aws-config config --json
`;

export const VERIFY_HELP = `Usage: ferry verify [options] URI...

For a pipeline that consumes outputs: checks each output prefix against its _manifest.json.
  - the manifest says complete, _SUCCESS is there, and no run holds the prefix's lease;
  - every object the manifest lists exists with the manifest's size and ETag;
  - --deep: every object is also read in full and its sha256 compared (streamed: memory stays
    small whatever the size; --concurrency objects at once, default 4);
  - no object under the prefix that the manifest does not list (ferry's own _manifest.json,
    _SUCCESS, _ferry.log aside).
Prints one line per prefix when it is whole, else one line per problem (missing, changed, sha256,
unlisted, status, running, no-manifest) and a verdict line.
Options:
  --deep             read every object and compare its sha256 with the manifest's
  --any-status       accept a manifest that is not complete (solver-failed, incomplete): check only
                     that what it lists is intact
  plus the S3 options of ferry --help (proxy, CA bundle and credentials work as for every command)
Exit: 0 when every prefix is whole, 1 when one is not, 65 when a _manifest.json is not ferry's,
64/66/69/77 when the store cannot be read.
Examples:
  ferry verify --aws-config config s3://my-simulation-data/output/hsdi/
  ferry verify --deep --aws-config config s3://my-simulation-data/output/hsdi/ s3://my-simulation-data/output/pintle/
`;

export const CHECK_HELP = `Usage: ferry check [--input URI...] [--output URI] [options]

A preflight before submitting a DOE: run it on a node (or a laptop) with the job's config file.
Prints one line each:
  - each input: readable (HEAD; a prefix is listed), its size;
  - the output prefix: writable: a probe object <output>.ferry-check-<random> is put, verified and
    deleted; an upload in parts is started and aborted (what a failed big upload needs);
  - where the credentials came from (profile, kind, role, expiry; never a secret) and the caller
    identity (STS GetCallerIdentity, where the endpoint serves it);
  - region, endpoint, STS endpoint, and the proxy/PAC route of each;
  - the clock offset against the server's Date.
A refused step names the action the policy lacks (e.g. s3:PutObject).
Options: the S3 options of ferry --help (--aws-config, --profile, --endpoint, --proxy...).
Exit: 0 only when a real run would get through the store parts; else the first failure's code
(66 a missing input, 77 denied or bad credentials, 69 unreachable, 73 a probe that does not read back).
Examples:
  ferry check --aws-config config --input s3://my-simulation-data/input/hsdi.zip \\
    --output s3://my-simulation-data/output/hsdi/
  ferry check --aws-config config --profile cfd --output s3://my-simulation-data/output/
`;
