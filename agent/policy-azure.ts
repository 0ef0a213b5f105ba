import type { Location } from './location.ts';

// `ferry policy` for Azure Blob locations: the least SAS permissions (or built-in role) per container.
// A service SAS and a role assignment both cover a whole container: Azure cannot narrow either to a
// prefix without an ABAC condition, which ferry does not write.

/** Why each SAS permission is asked for (printed on stderr by `ferry policy`). */
export const AZURE_WHY: Record<string, string> = {
  'r (input)': 'download the input (Get Blob Properties for its size and ETag, ranged Get Blob for the bytes)',
  'l (input)': 'list a prefix input; tell a missing blob (404) from a forbidden one',
  'r (output)': "verify uploads that a listing did not confirm (Get Blob Properties); read the run's lease",
  'w (output)':
    "upload outputs (Put Blob, Put Block, Put Block List), the manifest, _SUCCESS and the run's lease _ferry.lease",
  'd (output)':
    'withdraw an old _SUCCESS on a re-run; remove the lease at the end; ' +
    'remove files the solver deleted after their live upload',
  'l (output)': 'resume and verify: list what is under the output prefix (size and Content-MD5)',
};

export interface ContainerAccess {
  account: string;
  container: string;
  /** What ferry does there: read inputs, write outputs, or both. */
  for: Array<'inputs' | 'output'>;
  /** Service SAS permissions, in Azure's canonical order (racwdl…). */
  sas_permissions: string;
  /** The built-in role that grants as much, for a service principal or managed identity. */
  rbac_role: string;
  /** The role assignment's scope (subscription and resource group are yours to fill in). */
  rbac_scope: string;
  /** The prefixes ferry touches in this container (the grant is wider: the whole container). */
  prefixes: string[];
}

const ORDER = 'racwdl';

/** One entry per container: `rl` to read inputs, `rwdl` to write the output prefix. */
export function buildAzureAccess(inputs: Location[], output: Location | undefined): ContainerAccess[] {
  const byContainer = new Map<string, ContainerAccess>();
  const add = (u: Location, role: 'inputs' | 'output', perms: string) => {
    const [account, container] = u.bucket.split('/');
    const a = byContainer.get(u.bucket) ?? {
      account,
      container,
      for: [],
      sas_permissions: '',
      rbac_role: '',
      rbac_scope:
        `/subscriptions/SUBSCRIPTION/resourceGroups/GROUP/providers/Microsoft.Storage/storageAccounts/${account}` +
        `/blobServices/default/containers/${container}`,
      prefixes: [],
    };
    if (!a.for.includes(role)) a.for.push(role);
    const have = new Set(a.sas_permissions + perms);
    a.sas_permissions = [...ORDER].filter((p) => have.has(p)).join('');
    a.rbac_role = a.for.includes('output') ? 'Storage Blob Data Contributor' : 'Storage Blob Data Reader';
    a.prefixes.push(u.key || '(the whole container)');
    byContainer.set(u.bucket, a);
  };
  for (const u of inputs) if (u.scheme === 'az') add(u, 'inputs', 'rl');
  if (output?.scheme === 'az') add(output, 'output', 'rwdl');
  return [...byContainer.values()];
}

/** A command that makes such a SAS (Azure CLI), valid for a week: printed as an example. */
export function sasCommand(a: ContainerAccess): string {
  return (
    `az storage container generate-sas --account-name ${a.account} --name ${a.container} ` +
    `--permissions ${a.sas_permissions} --expiry $(date -u -d '+7 days' +%Y-%m-%dT%H:%MZ) --https-only -o tsv`
  );
}
