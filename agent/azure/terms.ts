import type { StoreTerms } from '../store/store.ts';

/** Azure's words, and the SAS letter each step needs (a role: Storage Blob Data Contributor). */
export const AZURE_TERMS: StoreTerms = {
  name: 'Azure Blob',
  key: 'blob name',
  needs: { read: "'r' (and 'l')", put: "'w'", verify: "'r' or 'l'", remove: "'d'", multipart: "'w'" },
};
