// ferry's configuration: argv + environment + vars file → frozen settings, one module per concern.
export {
  CHECK_FLAGS,
  DOE_STATUS_FLAGS,
  GET_FLAGS,
  RUN_FLAGS,
  S3_FLAGS,
  VERIFY_FLAGS,
  maxExtract,
} from './config/flags.ts';
export { runConfig, type MpiSettings, type RunConfig } from './config/run.ts';
export { isPacFile, netSettings, PAC_AUTO, type NetSettings } from './config/net.ts';
export {
  s3Settings,
  storeSettings,
  type AzureSettings,
  type ObjectParams,
  type S3Settings,
  type StoreConfig,
} from './config/store.ts';
export { SMALL_FILE, transferSettings, type TransferSettings } from './config/transfer.ts';
