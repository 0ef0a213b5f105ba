// ferry's configuration: argv + environment + vars file → frozen settings, one module per concern;
// each module declares the flags it reads (agent/flags/ is the kit: declaration, parser, help).
import { NET_FLAGS } from './config/net.ts';
import { OUTPUT_FLAGS } from './config/output.ts';
import { AZURE_FLAGS, S3_FLAGS } from './config/store.ts';
import { TRANSFER_FLAGS } from './config/transfer.ts';
import type { FlagGroup } from './flags/help.ts';

export { runConfig, type MpiSettings, type RunConfig } from './config/run.ts';
export { isPacFile, netSettings, NET_FLAGS, PAC_AUTO, type NetSettings } from './config/net.ts';
export { OUTPUT_FLAGS } from './config/output.ts';
export {
  AZURE_FLAGS,
  S3_FLAGS,
  s3Settings,
  storeSettings,
  type AzureSettings,
  type ObjectParams,
  type S3Settings,
  type StoreConfig,
} from './config/store.ts';
export { SMALL_FILE, TRANSFER_FLAGS, transferSettings, type TransferSettings } from './config/transfer.ts';

/** The flags of every command that opens a store: which stores, how to reach them, how to move bytes, what to print. */
export const STORE_GROUPS: FlagGroup[] = [S3_FLAGS, AZURE_FLAGS, NET_FLAGS, TRANSFER_FLAGS, OUTPUT_FLAGS];
