// Lambda-style handlers: POST /users gets an HTTP API (2.0) event, GET /users/{id} a REST (1.0) one.
// Module scope runs once per instance, so this Map lives as long as the instance does: a stand-in
// for a database client created once and reused.
const users = new Map<string, { id: string; name: string }>();

interface V2Event { body?: string; isBase64Encoded?: boolean }
interface V1Event { httpMethod: string; pathParameters: { id: string } | null }

export const create = async (event: V2Event & Partial<V1Event>) => {
  if (event.httpMethod === 'GET') {
    const id = event.pathParameters?.id ?? '';
    const user = users.get(id);
    return user
      ? { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...user, table: process.env.TABLE }) }
      : { statusCode: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: `no user ${id} in this instance` }) };
  }
  const input = JSON.parse(event.body ?? '{}') as { name?: string };
  if (!input.name) return { statusCode: 400, body: JSON.stringify({ message: 'name is required' }) };
  const user = { id: String(users.size + 1), name: input.name };
  users.set(user.id, user);
  return { statusCode: 201, headers: { location: `/users/${user.id}` }, body: JSON.stringify(user) };
};
