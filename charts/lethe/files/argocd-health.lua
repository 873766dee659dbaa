-- Argo CD health of every Lethe kind (group privacy.lethe.dev), from the
-- status the controllers write: status.observedGeneration and the Ready,
-- Reconciling and Stalled conditions (kstatus). The same script serves all
-- seven kinds; it uses only what Argo CD gives a health script by default
-- (no string library).
--
--   Degraded     Stalled=True: only a change to the spec, or to an object it
--                names, can fix it; a DataSubjectRequest in phase Failed.
--   Progressing  the controller has not answered the current generation
--                yet, or Reconciling=True (waiting for something that may
--                appear on its own, or work under way).
--   Suspended    a RetentionPolicy with spec.suspend: true; a
--                DataSubjectRequest waiting for spec.approval.approved.
--   Healthy      Ready=True for the current generation; a
--                DataSubjectRequest in phase Completed.
local hs = {}

local conditions = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  conditions = obj.status.conditions
end

local function condition(name)
  for _, c in ipairs(conditions) do
    if c.type == name then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function result(status, message)
  hs.status = status
  hs.message = message
  return hs
end

local generation = tonumber(obj.metadata.generation) or 0
local observed = 0
if obj.status ~= nil then
  observed = tonumber(obj.status.observedGeneration) or 0
end
local ready = condition("Ready")
local reconciling = condition("Reconciling")
local stalled = condition("Stalled")

-- A finished request is not worked on again: its phase is its final word.
if obj.kind == "DataSubjectRequest" and obj.status ~= nil then
  if obj.status.phase == "Failed" or (obj.status.phase == "Completed" and isTrue(stalled)) then
    if stalled ~= nil then
      return result("Degraded", stalled.message)
    end
    return result("Degraded", "the request failed")
  end
  if obj.status.phase == "Completed" then
    if ready ~= nil then
      return result("Healthy", ready.message)
    end
    return result("Healthy", "the request completed")
  end
end

if ready == nil then
  return result("Progressing", "waiting for the controller to report on the object")
end

if observed ~= generation then
  -- While it waits, the controller writes its conditions for the current
  -- generation but leaves observedGeneration behind.
  if isTrue(reconciling) and tonumber(reconciling.observedGeneration) == generation then
    if reconciling.reason == "AwaitingApproval" then
      return result("Suspended", reconciling.message)
    end
    return result("Progressing", reconciling.message)
  end
  return result("Progressing", "generation " .. generation .. " not yet observed (last observed: " .. observed .. ")")
end

if isTrue(stalled) then
  return result("Degraded", stalled.message)
end
if isTrue(reconciling) then
  if reconciling.reason == "AwaitingApproval" then
    return result("Suspended", reconciling.message)
  end
  return result("Progressing", reconciling.message)
end
if ready.status == "True" then
  if obj.kind == "RetentionPolicy" and obj.spec ~= nil and obj.spec.suspend == true then
    return result("Suspended", ready.message)
  end
  return result("Healthy", ready.message)
end
return result("Progressing", ready.message)
