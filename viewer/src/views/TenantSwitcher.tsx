import { useEffect, useState } from 'react';
import { getJson, write } from '../api';
import type { Me, Tenant } from '../model';

/** Admins: pick the workspace reads are scoped to (POST /admin/impersonate). */
export function TenantSwitcher({ me, onChange }: { me: Me; onChange: () => void }) {
  const [tenants, setTenants] = useState<Tenant[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    getJson<{ tenants: Tenant[] }>('/admin/tenants').then(
      (r) => setTenants(r.tenants),
      (e: Error) => setError(e.message),
    );
  }, []);
  if (error || !tenants) return <span className="workspace" data-testid="workspace">{me.tenant.slug}</span>;
  return (
    <label className="switcher" title="Workspace (admins can view any)">
      <span className="sr">Workspace</span>
      <select
        data-testid="tenant-switcher"
        value={me.tenant.slug}
        onChange={async (e) => {
          const slug = e.target.value;
          await write('POST', '/admin/impersonate', { tenant: slug === me.home_tenant.slug ? null : slug });
          onChange();
        }}
      >
        {tenants.map((t) => (
          <option key={t.id} value={t.slug}>
            {t.slug === me.home_tenant.slug ? `${t.slug} (yours)` : t.slug}
          </option>
        ))}
      </select>
    </label>
  );
}
