// A database's schema as text, for test/schema.snapshot.sql: every schema,
// extension, type, sequence, table (columns in order, with types, defaults,
// identity and NOT NULL), constraint, index, view, function, trigger, row
// security policy and comment outside the system schemas, each written by
// PostgreSQL's own pg_get_*def functions and sorted by kind and name. Read
// from the catalog rather than with pg_dump, whose output (and presence)
// differs between PostgreSQL versions: this text is the same on 15 and 17.
// node-pg-migrate's own table, pgmigrations, is left out.

import type postgres from 'postgres';

const header = `-- The schema the migrations build, read from a migrated database's catalog.
-- Written by \`npm run schema:dump\` (test/migrations.test.ts compares it); do not edit by hand.
`;

export async function describeSchema(sql: postgres.Sql): Promise<string> {
  const objects = await sql.begin(async (transaction) => {
    // With nothing on the search path, every name is written schema-qualified.
    await transaction`SET LOCAL search_path = pg_catalog`;
    return transaction<{ kind: string; name: string; definition: string }[]>`
      WITH
        schemas AS (
          SELECT oid, nspname FROM pg_namespace
          WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
            AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
        ),
        -- Objects an extension owns are the extension's, not ours.
        extension_members AS (SELECT objid FROM pg_depend WHERE deptype = 'e'),
        -- node-pg-migrate's table and its id sequence.
        migration_bookkeeping AS (
          SELECT oid FROM pg_class WHERE oid = to_regclass('public.pgmigrations')
          UNION
          SELECT objid FROM pg_depend WHERE classid = 'pg_class'::regclass AND refobjid = to_regclass('public.pgmigrations')
        ),
        relations AS (
          SELECT c.oid, c.relkind, c.relrowsecurity, format('%I.%I', s.nspname, c.relname) AS qualified
          FROM pg_class c JOIN schemas s ON s.oid = c.relnamespace
          WHERE c.oid NOT IN (SELECT objid FROM extension_members) AND c.oid NOT IN (SELECT oid FROM migration_bookkeeping)
        ),
        functions AS (
          SELECT p.oid, format('%I.%I(%s)', s.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS signature
          FROM pg_proc p JOIN schemas s ON s.oid = p.pronamespace
          WHERE p.oid NOT IN (SELECT objid FROM extension_members)
        ),
        objects (kind, name, definition) AS (
            -- text, not name: a name column would cut every object's name at 63 bytes, and the order with it.
            SELECT 'schema', nspname::text, format('CREATE SCHEMA %I;', nspname) FROM schemas WHERE nspname <> 'public'
          UNION ALL
            SELECT 'extension', extname::text, format('CREATE EXTENSION %I;', extname) FROM pg_extension WHERE extname <> 'plpgsql'
          UNION ALL
            SELECT 'type', format('%I.%I', s.nspname, t.typname), CASE t.typtype
              WHEN 'e' THEN format('CREATE TYPE %I.%I AS ENUM (%s);', s.nspname, t.typname,
                (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
              WHEN 'd' THEN format('CREATE DOMAIN %I.%I AS %s%s%s;', s.nspname, t.typname, format_type(t.typbasetype, t.typtypmod),
                CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END,
                (SELECT coalesce(string_agg(format(' CONSTRAINT %I %s', c.conname, pg_get_constraintdef(c.oid)), '' ORDER BY c.conname), '')
                 FROM pg_constraint c WHERE c.contypid = t.oid))
              ELSE format('CREATE TYPE %I.%I (%s);', s.nspname, t.typname,
                (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped))
              END
            FROM pg_type t JOIN schemas s ON s.oid = t.typnamespace
            WHERE t.oid NOT IN (SELECT objid FROM extension_members)
              AND (t.typtype IN ('e', 'd') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
          UNION ALL
            SELECT 'sequence', r.qualified, format('CREATE SEQUENCE %s AS %s START %s INCREMENT %s MINVALUE %s MAXVALUE %s CACHE %s%s;',
              r.qualified, format_type(seq.seqtypid, NULL), seq.seqstart, seq.seqincrement, seq.seqmin, seq.seqmax, seq.seqcache,
              CASE WHEN seq.seqcycle THEN ' CYCLE' ELSE '' END)
            FROM relations r JOIN pg_sequence seq ON seq.seqrelid = r.oid
          UNION ALL
            SELECT 'table', r.qualified, format(E'CREATE %sTABLE %s (\\n%s\\n);', CASE r.relkind WHEN 'p' THEN 'PARTITIONED ' ELSE '' END, r.qualified,
              string_agg(format('  %I %s%s%s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END,
                CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                CASE WHEN a.attgenerated = 's' THEN format(' GENERATED ALWAYS AS (%s) STORED', pg_get_expr(d.adbin, d.adrelid))
                     WHEN d.adbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END,
                CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END),
              E',\\n' ORDER BY a.attnum))
            FROM relations r
            JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE r.relkind IN ('r', 'p')
            GROUP BY r.qualified, r.relkind
          UNION ALL
            SELECT 'constraint', format('%s %s', r.qualified, con.conname),
              format('ALTER TABLE %s ADD CONSTRAINT %I %s;', r.qualified, con.conname, pg_get_constraintdef(con.oid))
            FROM pg_constraint con JOIN relations r ON r.oid = con.conrelid
          UNION ALL
            SELECT 'index', format('%s %s', r.qualified, i.relname), pg_get_indexdef(x.indexrelid) || ';'
            FROM pg_index x JOIN relations r ON r.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
            -- Those of primary keys and unique constraints are their constraints'.
            WHERE NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = x.indexrelid AND con.conrelid = x.indrelid)
          UNION ALL
            SELECT 'view', r.qualified, format(E'CREATE %sVIEW %s AS\\n%s', CASE r.relkind WHEN 'm' THEN 'MATERIALIZED ' ELSE '' END,
              r.qualified, pg_get_viewdef(r.oid, true))
            FROM relations r WHERE r.relkind IN ('v', 'm')
          UNION ALL
            SELECT 'function', f.signature, pg_get_functiondef(f.oid)
            FROM functions f JOIN pg_proc p ON p.oid = f.oid WHERE p.prokind IN ('f', 'p')
          UNION ALL
            SELECT 'trigger', format('%s %s', r.qualified, tg.tgname),
              pg_get_triggerdef(tg.oid, true) || ';' || CASE tg.tgenabled WHEN 'O' THEN '' ELSE format(' -- tgenabled %s', tg.tgenabled) END
            FROM pg_trigger tg JOIN relations r ON r.oid = tg.tgrelid
            WHERE NOT tg.tgisinternal
          UNION ALL
            SELECT 'row security', r.qualified, format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY;', r.qualified)
            FROM relations r WHERE r.relrowsecurity
          UNION ALL
            SELECT 'policy', format('%s %s', r.qualified, pol.polname),
              format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s;', pol.polname, r.qualified,
                CASE WHEN pol.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                (SELECT string_agg(CASE WHEN role = 0 THEN 'PUBLIC' ELSE role::regrole::text END, ', ' ORDER BY role) FROM unnest(pol.polroles) AS role),
                coalesce(' USING (' || pg_get_expr(pol.polqual, pol.polrelid) || ')', ''),
                coalesce(' WITH CHECK (' || pg_get_expr(pol.polwithcheck, pol.polrelid) || ')', ''))
            FROM pg_policy pol JOIN relations r ON r.oid = pol.polrelid
          UNION ALL
            SELECT 'comment', pg_describe_object(d.classoid, d.objoid, d.objsubid),
              format('COMMENT ON %s IS %L;', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
            FROM pg_description d
            WHERE (d.classoid = 'pg_class'::regclass AND d.objoid IN (SELECT oid FROM relations))
               OR (d.classoid = 'pg_proc'::regclass AND d.objoid IN (SELECT oid FROM functions))
        )
      SELECT kind, name, definition FROM objects
      ORDER BY array_position(ARRAY['schema', 'extension', 'type', 'sequence', 'table', 'constraint', 'index', 'view',
        'function', 'trigger', 'row security', 'policy', 'comment'], kind), name COLLATE "C"`;
  });
  return header + objects.map(({ kind, name, definition }) => `\n-- ${kind} ${name}\n${definition.trimEnd()}\n`).join('');
}
