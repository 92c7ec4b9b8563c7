import { MemoryLedger, MemoryLedgerDatabase } from '../../../../services/ledger/memory-ledger.ts';
import { ledgerSuite } from '../../../integration/ledger/ledger-suite.ts';

// The suite the ClickHouse ledger passes on both engines (SQL aside): the two cannot drift apart.
const database = new MemoryLedgerDatabase();
ledgerSuite('in-memory backend', async (migration) => new MemoryLedger({ migration, database }));
