import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { AzureEnv } from './azurite.ts';

/** An admin client for arranging and checking test data in Azurite (not ferry's code path). */
export function adminContainer(az: AzureEnv, container: string): ContainerClient {
  return BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient(container);
}

/** A fresh, empty container. */
export async function freshContainer(az: AzureEnv, container: string): Promise<ContainerClient> {
  const c = adminContainer(az, container);
  await c.deleteIfExists();
  // Azurite deletes at once; a container being deleted on Azure would answer 409 for a while.
  await c.create();
  return c;
}

export async function putBlob(c: ContainerClient, name: string, body: Buffer | string): Promise<void> {
  const b = Buffer.from(body);
  await c.getBlockBlobClient(name).upload(b, b.length);
}

export async function getBlob(c: ContainerClient, name: string): Promise<Buffer> {
  return c.getBlobClient(name).downloadToBuffer();
}

/** Blob names under a prefix, sorted, with their sizes. */
export async function listBlobs(c: ContainerClient, prefix = ''): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const b of c.listBlobsFlat({ prefix })) out.set(b.name, b.properties.contentLength ?? 0);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** An --azure-config file for the run directory: account, key and the emulator's endpoint. */
export function azureConfigText(az: AzureEnv, key = az.key, endpoint = az.endpoint): string {
  return `[storage]\naccount = ${az.account}\nkey = ${key}\nblob_endpoint = ${endpoint}\n`;
}
