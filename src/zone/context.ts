import type { ObjectFiles } from './objectfiles.js';
import type { Realm, RealmZone } from './realm.js';
import type { Store } from './store.js';

/** What every handler of one running zone shares. */
export interface ZoneContext {
  store: Store;
  files: ObjectFiles;
  realm: Realm;
  zone: RealmZone;
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => void;
}
